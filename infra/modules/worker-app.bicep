// The worker (azd service "worker"): a Container App that connects out to the
// Durable Task Scheduler and runs the orchestrator and activities. It serves
// no HTTP, so it has no ingress, and HTTP traffic cannot scale it: the
// scheduler's KEDA scaler (azure-durabletask-scheduler) does, adding
// replicas while work items wait in the task hub and removing them when the
// backlog is gone. One replica always runs, so a decision or a timer is
// picked up at once rather than after a cold start.

@description('Name of the container app (at most 32 lowercase letters, digits and hyphens).')
param name string

@description('Azure region of the app.')
param location string

@description('Tags for the app.')
param tags object

@description('azd service name, written to the azd-service-name tag so `azd deploy` finds the app.')
param serviceName string

@description('Resource id of the Container Apps environment.')
param environmentId string

@description('Resource id of the user-assigned identity the worker runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Login server of the registry the image comes from (the identity holds AcrPull there).')
param registryLoginServer string

@description('Image to run. azd replaces it with the image it builds on `azd deploy`.')
param image string

@description('Endpoint of the Durable Task Scheduler (https://...).')
param schedulerEndpoint string

@description('Name of the task hub.')
param taskHubName string

@description('Base URL of the HTTP API, used in the approval links the worker writes.')
param apiBaseUrl string

@description('Log level of the worker: debug, info, warn or error.')
param logLevel string = 'info'

@description('Versioned URI of the Key Vault secret holding the key the worker signs approval links with.')
param linkKeySecretUri string

@description('Versioned URI of the Key Vault secret holding the audit key (APPROVALS_AUDIT_KEY); empty turns the audit export off.')
param auditKeySecretUri string = ''

@description('URL of the blob container the worker exports ended approvals\' audit trails to (APPROVALS_AUDIT_CONTAINER_URL).')
param auditContainerUrl string

// The notification settings (config.Notify), each empty when it is not set.
// An empty one is left out of the container's environment, so the worker
// reads its own default, and a deployment that sets none runs it exactly as
// before: the log channel alone.
@description('Channels, comma-separated: log, email, teams, slack, webhook (APPROVALS_NOTIFY).')
param notifyChannels string = ''

@description('SMTP server of the email channel (APPROVALS_SMTP_HOST).')
param smtpHost string = ''

@description('Its port (APPROVALS_SMTP_PORT).')
param smtpPort string = ''

@description('starttls, tls or none (APPROVALS_SMTP_SECURITY).')
param smtpSecurity string = ''

@description('SMTP user name (APPROVALS_SMTP_USERNAME).')
param smtpUsername string = ''

@description('Sender of the e-mails (APPROVALS_SMTP_FROM).')
param smtpFrom string = ''

@description('Addresses for approvers who are not e-mail addresses (APPROVALS_SMTP_TO).')
param smtpTo string = ''

@description('CIDR ranges the notification webhooks may reach beyond public addresses (APPROVALS_NOTIFY_ALLOW).')
param notifyAllow string = ''

@description('CIDR ranges approval callbacks may reach beyond public addresses (APPROVALS_CALLBACK_ALLOW).')
param callbackAllow string = ''

// The notification secrets: versioned URIs of Key Vault secrets, read like
// the link key; empty for a secret that is not set, which then gets neither a
// Container Apps secret nor a variable.
@description('Key Vault secret of APPROVALS_SMTP_PASSWORD.')
param smtpPasswordSecretUri string = ''

@description('Key Vault secret of APPROVALS_TEAMS_WEBHOOK_URL.')
param teamsWebhookUrlSecretUri string = ''

@description('Key Vault secret of APPROVALS_SLACK_WEBHOOK_URL.')
param slackWebhookUrlSecretUri string = ''

@description('Key Vault secret of APPROVALS_WEBHOOK_URL.')
param webhookUrlSecretUri string = ''

@description('Key Vault secret of APPROVALS_WEBHOOK_SECRET.')
param webhookSecretSecretUri string = ''

@description('Key Vault secret of APPROVALS_CALLBACK_SECRET.')
param callbackSecretSecretUri string = ''

@description('Most replicas the scale rules may run. The scheduler hands each work item to one connected worker, so replicas share the backlog.')
@minValue(1)
@maxValue(10)
param maxReplicas int = 5

// One number per work item type is both what a replica asks the scheduler for
// at once (the DTS_MAX_CONCURRENT_* settings the worker sends on its work item
// stream) and the backlog per replica the scale rule aims at: the rule adds a
// replica when the waiting work would fill the ones running.
@description('Orchestration work items one replica takes at once, and the scale rule\'s target per replica.')
@minValue(1)
param maxConcurrentOrchestrationWorkItems int = 100

@description('Activity work items one replica takes at once, and the scale rule\'s target per replica.')
@minValue(1)
param maxConcurrentActivityWorkItems int = 100

@description('Seconds between SIGTERM and SIGKILL when a replica stops, so work in flight can finish.')
@minValue(0)
@maxValue(600)
param terminationGracePeriodSeconds int = 60

resource worker 'Microsoft.App/containerApps@2025-01-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    managedEnvironmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      registries: [
        {
          server: registryLoginServer
          identity: identityId
        }
      ]
      // The link key, read from Key Vault with the worker's identity (Key
      // Vault Secrets User on the vault). The worker only signs links, so it
      // gets the current key and not the previous one, which only the
      // handler's check needs.
      secrets: [
        {
          name: 'approvals-link-key'
          keyVaultUrl: linkKeySecretUri
          identity: identityId
        }
        // The notification secrets that are set, the same way.
        ...(empty(smtpPasswordSecretUri) ? [] : [{ name: 'approvals-smtp-password', keyVaultUrl: smtpPasswordSecretUri, identity: identityId }])
        ...(empty(teamsWebhookUrlSecretUri) ? [] : [{ name: 'approvals-teams-webhook-url', keyVaultUrl: teamsWebhookUrlSecretUri, identity: identityId }])
        ...(empty(slackWebhookUrlSecretUri) ? [] : [{ name: 'approvals-slack-webhook-url', keyVaultUrl: slackWebhookUrlSecretUri, identity: identityId }])
        ...(empty(webhookUrlSecretUri) ? [] : [{ name: 'approvals-webhook-url', keyVaultUrl: webhookUrlSecretUri, identity: identityId }])
        ...(empty(webhookSecretSecretUri) ? [] : [{ name: 'approvals-webhook-secret', keyVaultUrl: webhookSecretSecretUri, identity: identityId }])
        ...(empty(callbackSecretSecretUri) ? [] : [{ name: 'approvals-callback-secret', keyVaultUrl: callbackSecretSecretUri, identity: identityId }])
        // The audit key seals what the export writes; the previous one
        // only the handler publishes.
        ...(empty(auditKeySecretUri) ? [] : [{ name: 'approvals-audit-key', keyVaultUrl: auditKeySecretUri, identity: identityId }])
      ]
    }
    template: {
      containers: [
        {
          name: 'worker'
          image: image
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          // Names the worker reads (config.Worker and dts.Settings);
          // infra/infra_test.go checks them against the Go struct tags.
          env: [
            {
              name: 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING'
              value: 'Endpoint=${schedulerEndpoint};TaskHub=${taskHubName};Authentication=ManagedIdentity;ClientID=${identityClientId}'
            }
            {
              name: 'TASKHUB_NAME'
              value: taskHubName
            }
            {
              name: 'APPROVALS_API_BASE_URL'
              value: apiBaseUrl
            }
            {
              name: 'APPROVALS_LOG_LEVEL'
              value: logLevel
            }
            {
              name: 'APPROVALS_LINK_KEY'
              secretRef: 'approvals-link-key'
            }
            {
              name: 'DTS_MAX_CONCURRENT_ORCHESTRATION_WORK_ITEMS'
              value: string(maxConcurrentOrchestrationWorkItems)
            }
            {
              name: 'DTS_MAX_CONCURRENT_ACTIVITY_WORK_ITEMS'
              value: string(maxConcurrentActivityWorkItems)
            }
            // Notifications, each setting only when it is set.
            ...(empty(notifyChannels) ? [] : [{ name: 'APPROVALS_NOTIFY', value: notifyChannels }])
            ...(empty(smtpHost) ? [] : [{ name: 'APPROVALS_SMTP_HOST', value: smtpHost }])
            ...(empty(smtpPort) ? [] : [{ name: 'APPROVALS_SMTP_PORT', value: smtpPort }])
            ...(empty(smtpSecurity) ? [] : [{ name: 'APPROVALS_SMTP_SECURITY', value: smtpSecurity }])
            ...(empty(smtpUsername) ? [] : [{ name: 'APPROVALS_SMTP_USERNAME', value: smtpUsername }])
            ...(empty(smtpFrom) ? [] : [{ name: 'APPROVALS_SMTP_FROM', value: smtpFrom }])
            ...(empty(smtpTo) ? [] : [{ name: 'APPROVALS_SMTP_TO', value: smtpTo }])
            ...(empty(notifyAllow) ? [] : [{ name: 'APPROVALS_NOTIFY_ALLOW', value: notifyAllow }])
            ...(empty(callbackAllow) ? [] : [{ name: 'APPROVALS_CALLBACK_ALLOW', value: callbackAllow }])
            ...(empty(smtpPasswordSecretUri) ? [] : [{ name: 'APPROVALS_SMTP_PASSWORD', secretRef: 'approvals-smtp-password' }])
            ...(empty(teamsWebhookUrlSecretUri) ? [] : [{ name: 'APPROVALS_TEAMS_WEBHOOK_URL', secretRef: 'approvals-teams-webhook-url' }])
            ...(empty(slackWebhookUrlSecretUri) ? [] : [{ name: 'APPROVALS_SLACK_WEBHOOK_URL', secretRef: 'approvals-slack-webhook-url' }])
            ...(empty(webhookUrlSecretUri) ? [] : [{ name: 'APPROVALS_WEBHOOK_URL', secretRef: 'approvals-webhook-url' }])
            ...(empty(webhookSecretSecretUri) ? [] : [{ name: 'APPROVALS_WEBHOOK_SECRET', secretRef: 'approvals-webhook-secret' }])
            ...(empty(callbackSecretSecretUri) ? [] : [{ name: 'APPROVALS_CALLBACK_SECRET', secretRef: 'approvals-callback-secret' }])
            // With an audit key, each ended approval's sealed trail is
            // written to the audit container, as the worker's identity
            // (Storage Blob Data Contributor on it; storage.bicep).
            ...(empty(auditKeySecretUri) ? [] : [{ name: 'APPROVALS_AUDIT_KEY', secretRef: 'approvals-audit-key' }, { name: 'APPROVALS_AUDIT_CONTAINER_URL', value: auditContainerUrl }])
          ]
        }
      ]
      // One rule per work item type: the scaler counts one type per rule.
      // Each reads the backlog with the worker's own identity, which holds
      // Durable Task Worker and Durable Task Data Reader on the task hub
      // (main.bicep). Metadata values are strings, as KEDA takes them.
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'dts-orchestrations'
            custom: {
              type: 'azure-durabletask-scheduler'
              metadata: {
                endpoint: schedulerEndpoint
                taskhubName: taskHubName
                workItemType: 'Orchestration'
                maxConcurrentWorkItemsCount: string(maxConcurrentOrchestrationWorkItems)
              }
              identity: identityId
            }
          }
          {
            name: 'dts-activities'
            custom: {
              type: 'azure-durabletask-scheduler'
              metadata: {
                endpoint: schedulerEndpoint
                taskhubName: taskHubName
                workItemType: 'Activity'
                maxConcurrentWorkItemsCount: string(maxConcurrentActivityWorkItems)
              }
              identity: identityId
            }
          }
        ]
      }
      terminationGracePeriodSeconds: terminationGracePeriodSeconds
    }
  }
}

output name string = worker.name
